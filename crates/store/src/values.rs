//! The values that cross between the shared transaction code and a
//! database driver: statement arguments ([`Val`]) and result rows
//! ([`Record`]). Keeping them this small lets one body of SQL and control
//! flow serve SQLite and PostgreSQL alike.

use anyhow::{Context, anyhow};

/// A statement argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Val {
    Int(i64),
    Text(String),
    /// A NULL in an integer column.
    NullInt,
    /// A NULL in a text column.
    NullText,
}

impl From<i64> for Val {
    fn from(v: i64) -> Self {
        Val::Int(v)
    }
}

impl From<u32> for Val {
    fn from(v: u32) -> Self {
        Val::Int(i64::from(v))
    }
}

impl From<String> for Val {
    fn from(v: String) -> Self {
        Val::Text(v)
    }
}

impl From<&str> for Val {
    fn from(v: &str) -> Self {
        Val::Text(v.to_owned())
    }
}

impl From<&String> for Val {
    fn from(v: &String) -> Self {
        Val::Text(v.clone())
    }
}

impl From<Option<String>> for Val {
    fn from(v: Option<String>) -> Self {
        v.map_or(Val::NullText, Val::Text)
    }
}

impl From<Option<i64>> for Val {
    fn from(v: Option<i64>) -> Self {
        v.map_or(Val::NullInt, Val::Int)
    }
}

/// `args![a, b, c]`: a statement's arguments, in `$1, $2, $3` order.
macro_rules! args {
    ($($v:expr),* $(,)?) => {
        vec![$($crate::values::Val::from($v)),*]
    };
}
pub(crate) use args;

/// A column's value as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Cell {
    Int(i64),
    Text(String),
    Null,
}

/// One result row, columns by name.
#[derive(Debug, Clone, Default)]
pub(crate) struct Record(pub(crate) Vec<(String, Cell)>);

impl Record {
    fn cell(&self, col: &str) -> anyhow::Result<&Cell> {
        self.0
            .iter()
            .find(|(name, _)| name == col)
            .map(|(_, cell)| cell)
            .ok_or_else(|| anyhow!("no column {col}"))
    }

    pub(crate) fn opt_int(&self, col: &str) -> anyhow::Result<Option<i64>> {
        match self.cell(col)? {
            Cell::Int(v) => Ok(Some(*v)),
            Cell::Null => Ok(None),
            Cell::Text(t) => Err(anyhow!("column {col} is text {t:?}, not an integer")),
        }
    }

    pub(crate) fn int(&self, col: &str) -> anyhow::Result<i64> {
        self.opt_int(col)?
            .with_context(|| format!("column {col} is NULL"))
    }

    pub(crate) fn opt_text(&self, col: &str) -> anyhow::Result<Option<String>> {
        match self.cell(col)? {
            Cell::Text(v) => Ok(Some(v.clone())),
            Cell::Null => Ok(None),
            Cell::Int(v) => Err(anyhow!("column {col} is integer {v}, not text")),
        }
    }

    pub(crate) fn text(&self, col: &str) -> anyhow::Result<String> {
        self.opt_text(col)?
            .with_context(|| format!("column {col} is NULL"))
    }
}
