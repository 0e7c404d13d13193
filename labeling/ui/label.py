"""Label page: one sentence at a time, keyboard first (label keys, Left, Right, F, G).

The widgets live in :mod:`labeling.ui.label_view`, imported once per process: a page
file is compiled again on every AppTest run, a module is not.
"""

from labeling.ui import label_view

label_view.render()
