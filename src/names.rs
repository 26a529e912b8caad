//! Names of things on disk that several modules derive from a model's name.

/// The folder name of an environment: the catalog name, lowercased, spaces as dashes.
pub fn dir_name(model: &str) -> String {
    model
        .trim()
        .to_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dir_names_are_safe() {
        assert_eq!(dir_name("StarDist Seed"), "stardist-seed");
        assert_eq!(dir_name("../evil"), "..-evil");
        assert_eq!(dir_name("scivision-demo-edges"), "scivision-demo-edges");
    }
}
