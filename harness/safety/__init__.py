"""Guards against hostile or broken inputs: paths that leave their folder, output folders that are
not ours to replace, malformed result files, out-of-range values. Small modules, no heavy imports."""
