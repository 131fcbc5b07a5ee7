"""Pure builders from a ``Spec``: policy documents and their packing, spend plans and request
parameters, the manifest and the policy pack's config. Imports only ``corral.spec``."""
