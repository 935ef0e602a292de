"""Reference rows evaluated like methods, so every table has a floor and a ceiling.

`identity` (this package) returns the input image as its translation: the score of doing
nothing. `flat` (the demo task only) paints every pixel the most common class's colour: the
score of learning nothing but the background. `real-vs-real` (one half of the real target test set
against the other half) is not a method; `harness evaluate --reference-rows --task T` writes it.
"""
