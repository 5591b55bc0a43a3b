"""Problem definitions, one module per physics (fe2.core.definition.Definition)."""

KINDS = ("mechanics", "transport", "thermoelasticity", "phase_field", "porous_electrode",
         "chemo_mechanics", "chemo_fracture", "cell")
