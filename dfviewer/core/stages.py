"""The cascade's stage count limit, in a module that imports nothing, for the config check and the viewer."""

#: the most stages a cascade may have (the viewer offers a button and a key for each)
MAX_STAGES = 8
