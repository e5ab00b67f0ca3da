"""Limits that keep parsing, validation and evaluation bounded for any input."""

MAX_LENGTH = 2000
"""Longest condition text accepted, in characters."""

MAX_DEPTH = 32
"""Deepest nesting of '(', '[' and 'not' accepted by the parser."""

MAX_TREE_HEIGHT = 5 * (MAX_DEPTH + 2)
"""Tallest node tree accepted by validation and compilation.

Every tree the parser produces stays below this (each nesting level adds at most an 'or', an
'and', a comparison and a sum); it only rejects trees built by hand in code.
"""
