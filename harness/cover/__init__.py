"""Line and branch coverage of the allocator's C, as ``buddy-harness cover`` measures it."""
