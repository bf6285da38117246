"""The filesystem: namespace, roles and operations over one famfs device."""
