"""The display layer shared by the CLI and the GUI (Qt-free).

What a map is (label, units, colormap, file name), how a window is chosen, how an image is
cropped, which files an export writes and which files in a folder are radiographs. The viewer
model (:mod:`dfviewer.display.viewer_state`) lives here too, so it can be tested without Qt.
:mod:`dfviewer.display.windows` imports nothing from the package, so the IO layer may use it.
"""
