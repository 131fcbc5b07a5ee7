"""Stack config to a validated ``Spec``: the model, its loader and section parsers, the spend
keys, its key names, value readers, the catalog (regions and instance types from botocore), the
vCPU quota classes and the data files. No AWS calls, no other corral layer imported."""
