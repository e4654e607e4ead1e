# Theory branch (hull probabilities of random samples, ridgeless double descent): its rules
# are added with the theory library; `config: theory.enabled` switches them on.
