//! Command-line flags of the side commands (`report`, `discover`): `--flag value`,
//! `--flag=value`, short flags, and positional arguments (`-` is one: stdin).

/// One item of a command line.
#[derive(Debug, PartialEq, Eq)]
pub enum Item {
    /// A flag, with the value written after `=` when there was one.
    Flag {
        name: String,
        inline: Option<String>,
    },
    Positional(String),
}

/// The items of a command line, and the values of flags that take one.
pub struct Flags<'a> {
    it: std::slice::Iter<'a, String>,
}

impl<'a> Flags<'a> {
    pub fn new(args: &'a [String]) -> Flags<'a> {
        Flags { it: args.iter() }
    }

    /// The value of `flag`: its inline value, or the next argument.
    ///
    /// ```
    /// use ipam::cli::{Flags, Item};
    /// let args: Vec<String> = ["--format=svg", "--pool", "corp", "-", "--x"].map(String::from).into();
    /// let mut f = Flags::new(&args);
    /// let Some(Item::Flag { name, inline }) = f.next() else { panic!() };
    /// assert_eq!((name.as_str(), f.value(&name, inline).unwrap().as_str()), ("--format", "svg"));
    /// let Some(Item::Flag { name, inline }) = f.next() else { panic!() };
    /// assert_eq!(f.value(&name, inline).unwrap(), "corp");
    /// assert_eq!(f.next(), Some(Item::Positional("-".into())));
    /// let Some(Item::Flag { name, inline }) = f.next() else { panic!() };
    /// assert_eq!(f.value(&name, inline).unwrap_err(), "--x needs a value");
    /// ```
    pub fn value(&mut self, flag: &str, inline: Option<String>) -> Result<String, String> {
        inline
            .or_else(|| self.it.next().cloned())
            .ok_or_else(|| format!("{flag} needs a value"))
    }
}

impl Iterator for Flags<'_> {
    type Item = Item;
    fn next(&mut self) -> Option<Item> {
        let a = self.it.next()?;
        Some(match a.split_once('=') {
            Some((f, v)) if f.starts_with("--") => Item::Flag {
                name: f.to_string(),
                inline: Some(v.to_string()),
            },
            _ if a.starts_with('-') && a != "-" => Item::Flag {
                name: a.clone(),
                inline: None,
            },
            _ => Item::Positional(a.clone()),
        })
    }
}
