"""The operator console shell: one layout, navigation by role, zh-CN and en."""
