"""Training side of the recommendations plugin: read events, build the scoring tables, train the
sequential model, tune the blend on a validation split, evaluate, and write the ``storefront-recs`` bundle."""
