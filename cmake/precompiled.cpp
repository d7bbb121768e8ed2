// Nothing: the target that builds the precompiled header (CMakeLists.txt) needs a source.
