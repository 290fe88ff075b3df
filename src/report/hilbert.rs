//! The Hilbert layout of an address block on a page.
//!
//! Address offsets run along a Hilbert curve over a grid of cells, so every aligned
//! CIDR block inside the map is one square (an even number of host bits) or one 2:1
//! rectangle (odd), and neighbours in address space touch on the page. A map of an odd
//! number of bits is two Hilbert squares side by side; the first curve ends where the
//! second starts, so the map is one path too.
//!
//! Large blocks are drawn at a resolution of at most [`MAX_LEVELS`] bits (512 x 512
//! cells): a block smaller than one cell is drawn as the cell it lies in.

/// The most address bits a map resolves: 2^18 cells.
pub const MAX_LEVELS: u32 = 18;

/// A rectangle in cells: x, y (y grows downward, as in SVG), width, height.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rect {
    pub x: u64,
    pub y: u64,
    pub w: u64,
    pub h: u64,
}

/// The cell of the `d`-th step of a Hilbert curve on a `2^k x 2^k` grid. The curve
/// starts at (0, 0) and ends at (2^k - 1, 0).
///
/// ```
/// use ipam::report::hilbert::d2xy;
/// assert_eq!((0..4).map(|d| d2xy(1, d)).collect::<Vec<_>>(), [(0, 0), (0, 1), (1, 1), (1, 0)]);
/// ```
pub fn d2xy(k: u32, d: u64) -> (u64, u64) {
    let (mut x, mut y, mut t) = (0u64, 0u64, d);
    let mut s = 1u64;
    for _ in 0..k {
        let rx = 1 & (t / 2);
        let ry = 1 & (t ^ rx);
        if ry == 0 {
            if rx == 1 {
                x = s - 1 - x;
                y = s - 1 - y;
            }
            std::mem::swap(&mut x, &mut y);
        }
        x += s * rx;
        y += s * ry;
        t /= 4;
        s *= 2;
    }
    (x, y)
}

/// How a block of `host_bits` host bits is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    host_bits: u32,
    /// Bits the map resolves; `host_bits - levels` bits of each offset are below a cell.
    levels: u32,
}

impl Layout {
    /// The layout of a block with `host_bits` host bits (32 - prefix length in IPv4).
    pub fn new(host_bits: u32) -> Layout {
        Layout {
            host_bits,
            levels: host_bits.min(MAX_LEVELS),
        }
    }

    /// The order of each Hilbert square: a map of `levels` bits is one square of
    /// order levels/2, or two of order (levels-1)/2.
    fn order(&self) -> u32 {
        self.levels / 2
    }

    /// Width and height of the whole map in cells.
    pub fn size(&self) -> (u64, u64) {
        let side = 1u64 << self.order();
        if self.levels % 2 == 0 {
            (side, side)
        } else {
            (2 * side, side)
        }
    }

    /// The cell of cell number `c` (0 .. 2^levels).
    fn cell(&self, c: u64) -> (u64, u64) {
        let k = self.order();
        let per_square = 1u64 << (2 * k);
        let (x, y) = d2xy(k, c % per_square);
        (x + (c / per_square) * (1u64 << k), y)
    }

    /// The rectangle of the aligned sub-block at address `offset` from the start of the
    /// map's block with `bits` host bits. A sub-block smaller than a cell is that cell.
    pub fn rect(&self, offset: u128, bits: u32) -> Rect {
        let shift = self.host_bits - self.levels;
        let c = (offset >> shift) as u64;
        let m = bits.saturating_sub(shift).min(self.levels);
        if m == self.levels {
            let (w, h) = self.size();
            return Rect { x: 0, y: 0, w, h };
        }
        let c = c & !((1u64 << m) - 1);
        // A square of 4^j cells is aligned in the grid to its side.
        let square = |start: u64, j: u32| {
            let side = 1u64 << j;
            let (x, y) = self.cell(start);
            Rect {
                x: x & !(side - 1),
                y: y & !(side - 1),
                w: side,
                h: side,
            }
        };
        if m % 2 == 0 {
            square(c, m / 2)
        } else {
            let j = (m - 1) / 2;
            let a = square(c, j);
            let b = square(c + (1u64 << (2 * j)), j);
            let (x, y) = (a.x.min(b.x), a.y.min(b.y));
            Rect {
                x,
                y,
                w: (a.x + a.w).max(b.x + b.w) - x,
                h: (a.y + a.h).max(b.y + b.h) - y,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn cells_of(l: &Layout, offset: u64, m: u32) -> BTreeSet<(u64, u64)> {
        (offset..offset + (1 << m)).map(|c| l.cell(c)).collect()
    }

    #[test]
    fn every_aligned_block_is_one_rectangle_of_its_area() {
        for levels in 0..=10u32 {
            let l = Layout::new(levels);
            for m in 0..=levels {
                for start in (0..(1u64 << levels)).step_by(1 << m) {
                    let r = l.rect(start as u128, m);
                    assert_eq!(r.w * r.h, 1 << m, "levels {levels} block {start}/{m}");
                    let want: BTreeSet<_> = (r.x..r.x + r.w)
                        .flat_map(|x| (r.y..r.y + r.h).map(move |y| (x, y)))
                        .collect();
                    assert_eq!(
                        cells_of(&l, start, m),
                        want,
                        "levels {levels} block {start}/{m}"
                    );
                    // Squares for an even number of bits, 2:1 rectangles for odd.
                    let (long, short) = (r.w.max(r.h), r.w.min(r.h));
                    assert_eq!(long, if m % 2 == 0 { short } else { 2 * short });
                }
            }
        }
    }

    #[test]
    fn neighbours_in_address_space_touch_on_the_page() {
        for levels in 1..=12u32 {
            let l = Layout::new(levels);
            for c in 1..(1u64 << levels) {
                let (a, b) = (l.cell(c - 1), l.cell(c));
                assert_eq!(
                    a.0.abs_diff(b.0) + a.1.abs_diff(b.1),
                    1,
                    "levels {levels} at {c}"
                );
            }
        }
    }

    #[test]
    fn large_blocks_are_drawn_at_the_map_resolution() {
        // An IPv4 /8 (24 host bits) is a 512 x 512 map of 64 addresses per cell: a /24
        // is 2 x 2 cells, a /26 one cell, and a /28 still one cell.
        let l = Layout::new(24);
        assert_eq!(l.size(), (512, 512));
        let r = l.rect(0x00_01_00, 8);
        assert_eq!((r.w, r.h), (2, 2));
        assert_eq!((l.rect(0x00_01_40, 6).w, l.rect(0x00_01_40, 6).h), (1, 1));
        assert_eq!(l.rect(0x00_01_50, 4), l.rect(0x00_01_40, 6));
        // The whole IPv6 space: 128 host bits, no overflow.
        let all = Layout::new(128);
        assert_eq!(
            all.rect(0, 128),
            Rect {
                x: 0,
                y: 0,
                w: 512,
                h: 512
            }
        );
        assert_eq!(
            all.rect(1u128 << 127, 127).w * all.rect(1u128 << 127, 127).h,
            1 << 17
        );
    }
}
