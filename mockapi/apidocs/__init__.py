"""apidocs"""
