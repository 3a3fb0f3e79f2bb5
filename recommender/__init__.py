"""The pure numeric core: matrices, models, evaluation. numpy/scipy/implicit only."""
