"""Stack config to a validated ``Spec``: the model, its key names, value readers, the catalog
(regions and instance types from botocore) and its data files. No AWS calls, no other corral
layer imported."""
