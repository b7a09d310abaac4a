//! What the lockdown probe reports to `wpool doctor`: one line per layer of
//! the worker lockdown on the probe's stdout, in a form doctor reads back
//! field by field instead of searching the text.

use std::fmt;

/// One layer of the worker lockdown and whether it took effect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layer {
    /// Such as `seccomp`.
    pub name: String,
    /// What was applied, or why it was not.
    pub outcome: Result<String, String>,
}

/// The first field of a probe line for a layer that took effect.
const APPLIED: &str = "applied";
/// The first field of a probe line for a layer that did not.
const MISSING: &str = "missing";

impl Layer {
    /// The probe's line for this layer, without its newline: whether it was
    /// applied, its name and its detail, separated by tabs (any tab or line
    /// break inside a field becomes a space).
    pub fn to_line(&self) -> String {
        let clean = |text: &str| text.replace(['\t', '\n', '\r'], " ");
        let (status, detail) = match &self.outcome {
            Ok(detail) => (APPLIED, detail),
            Err(why) => (MISSING, why),
        };
        format!("{status}\t{}\t{}", clean(&self.name), clean(detail))
    }

    /// Reads back a line of [`Layer::to_line`]; `None` if it is not one.
    pub fn from_line(line: &str) -> Option<Layer> {
        let mut fields = line.splitn(3, '\t');
        let (status, name, detail) = (fields.next()?, fields.next()?, fields.next()?);
        let outcome = match status {
            APPLIED => Ok(detail.to_string()),
            MISSING => Err(detail.to_string()),
            _ => return None,
        };
        (!name.is_empty()).then(|| Layer {
            name: name.to_string(),
            outcome,
        })
    }
}

/// The line a person reads: `name  applied: detail` or `name  NOT applied:
/// why`.
impl fmt::Display for Layer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.outcome {
            Ok(detail) => write!(f, "{:<18} applied: {detail}", self.name),
            Err(why) => write!(f, "{:<18} NOT applied: {why}", self.name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Layer;

    #[test]
    fn a_line_reads_back_as_the_same_layer() {
        for outcome in [
            Ok("all of it".to_string()),
            Err("no\tkernel\nsupport".into()),
        ] {
            let layer = Layer {
                name: "seccomp".into(),
                outcome,
            };
            let back = Layer::from_line(&layer.to_line()).expect("a layer line");
            assert_eq!(back.name, "seccomp");
            assert_eq!(back.outcome.is_ok(), layer.outcome.is_ok());
            assert!(!back.to_line().contains('\n'));
        }
        assert_eq!(Layer::from_line("seccomp applied: 38 system calls"), None);
        assert_eq!(Layer::from_line("maybe\tseccomp\tdetail"), None);
    }
}
