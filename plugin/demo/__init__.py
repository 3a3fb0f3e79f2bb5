"""Demo mode: a synthetic online store to show the recommender at work."""
