"""The bottom layer of the kit: messages and errors, paths, file I/O, hardware and seeds, one
kiwi, Korean plots. Nothing here imports a task, an engine or a model library at module level.
"""
