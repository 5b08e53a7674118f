"""Training: the offline fold, training, evaluation, the report, and the workflow that ties them."""
