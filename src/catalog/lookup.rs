//! Finding models: by name (exactly, in any case, or normalized), by words, and the close names
//! an unknown one is offered.

use super::{Catalog, CatalogError, Model};

impl Catalog {
    /// Finds a model by name: exactly as listed, in any case, or in its normalized form (lower
    /// case, `-` for spaces and `_`), so `StarDist Seed`, `stardist seed` and `stardist-seed`
    /// are one model.
    pub fn get(&self, name: &str) -> Result<&Model, CatalogError> {
        self.find(name).ok_or_else(|| CatalogError::UnknownModel {
            name: name.to_string(),
            close: self.close_names(name),
        })
    }

    fn find(&self, name: &str) -> Option<&Model> {
        let name = name.trim();
        let wanted = normalized_name(name);
        self.models
            .iter()
            .find(|m| m.name == name)
            .or_else(|| {
                self.models
                    .iter()
                    .find(|m| m.name.eq_ignore_ascii_case(name))
            })
            .or_else(|| {
                self.models
                    .iter()
                    .find(|m| normalized_name(&m.name) == wanted)
            })
    }

    /// Splits `given` into a catalog name and the match-spec narrowing after it. The narrowing
    /// starts only at an explicit operator (`==1.0`, `>=1`, `[build=cuda*]`), so a name with
    /// spaces is never read as `NAME VERSION`.
    pub(super) fn split_name<'a>(&self, given: &'a str) -> Option<(&Model, &'a str)> {
        if let Some(m) = self.find(given) {
            return Some((m, ""));
        }
        self.model_before(given, |c| "=<>!~[".contains(c))
    }

    /// The first model named by `given` up to a character `at` accepts, and the rest after it.
    pub(super) fn model_before<'a>(
        &self,
        given: &'a str,
        at: impl Fn(char) -> bool,
    ) -> Option<(&Model, &'a str)> {
        given
            .char_indices()
            .filter(|(_, c)| at(*c))
            .find_map(|(i, _)| self.find(&given[..i]).map(|m| (m, given[i..].trim())))
    }

    /// Names within a small edit distance, or sharing a prefix.
    pub(super) fn close_names(&self, name: &str) -> Vec<String> {
        let lower = name.to_lowercase();
        let mut scored: Vec<(usize, &str)> = self
            .models
            .iter()
            .map(|m| {
                let other = m.name.to_lowercase();
                let d = strsim::levenshtein(&lower, &other);
                let bonus = if other.contains(&lower) || lower.contains(&other) {
                    0
                } else {
                    d
                };
                (bonus.min(d), m.name.as_str())
            })
            .filter(|(d, _)| *d <= 3.max(lower.len() / 3))
            .collect();
        scored.sort();
        // Only the closest names: one clear suggestion beats three vague ones.
        let best = scored.first().map_or(0, |(d, _)| *d);
        scored
            .into_iter()
            .take_while(|(d, _)| *d <= best + 1)
            .take(3)
            .map(|(_, n)| n.to_string())
            .collect()
    }

    /// Models whose name, description, tasks, tags or institutions contain every word.
    pub fn search(&self, words: &[String]) -> Vec<&Model> {
        let words: Vec<String> = words.iter().map(|w| w.to_lowercase()).collect();
        self.models
            .iter()
            .filter(|m| {
                let hay = format!(
                    "{} {} {} {} {}",
                    m.name,
                    m.description,
                    m.tasks.join(" "),
                    m.tags.join(" "),
                    m.institution.join(" ")
                )
                .to_lowercase();
                words.iter().all(|w| hay.contains(w))
            })
            .collect()
    }
}

/// A catalog name's normalized form: lower case, `-` for runs of spaces, `_` and `-`.
pub fn normalized_name(name: &str) -> String {
    name.trim()
        .to_lowercase()
        .split(|c: char| c.is_whitespace() || c == '_' || c == '-')
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("-")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_names_get_suggestions() {
        let catalog = Catalog::embedded();
        let err = catalog.get("scivision-demo-edge").unwrap_err().to_string();
        assert!(
            err.contains("did you mean `scivision-demo-edges`?"),
            "{err}"
        );
        let err = catalog.get("zzzzzzzzzzzzzz").unwrap_err().to_string();
        assert!(!err.contains("did you mean"), "{err}");
    }

    #[test]
    fn search_matches_all_words() {
        let catalog = Catalog::embedded();
        let hits: Vec<_> = catalog
            .search(&["demo".into(), "numpy".into()])
            .into_iter()
            .map(|m| m.name.clone())
            .collect();
        assert!(
            hits.contains(&"scivision-demo-legacy".to_string()),
            "{hits:?}"
        );
        assert!(!hits.contains(&"stardist".to_string()));
    }
}
