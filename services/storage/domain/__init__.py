"""Storage's domain: folders, their owners' shelves, what storage knows of identity and quota."""
