"""The display layer shared by the CLI and the GUI (Qt-free).

What a map is (label, units, colormap, file name), how an image is cropped and which files an
export writes. The viewer model (:mod:`dfviewer.display.viewer_state`) lives here too, so it can be
tested without Qt. VOI windows and colormaps are in :mod:`dfviewer.imaging`, which files in a folder
are radiographs in :mod:`dfviewer.io.file_filters`.
"""
