"""The answer engine: the question read once into a ``Question``, plans over cited table
cells and sentences, and the executor that computes them.

Reading order, one direction: ``question`` (the only module that reads question text) →
``cells`` (stored tables as cell grids) → ``planner`` (links the question to cells and
sentences and writes a ``Plan``) → ``plans`` (the plan types and their executor).
"""
