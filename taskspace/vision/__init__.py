"""Vision track: agents trained on class subsets, their penultimate features, admin tasks."""
