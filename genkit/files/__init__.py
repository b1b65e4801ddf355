"""Writing files safely: atomic writes, outputs kept off their inputs, PNG images."""
