"""Tools of the checkout for its developers (README rule graph, conda env files); not part of the package."""
