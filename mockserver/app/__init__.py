"""The top of the fake: the one builder (``build``), the one declared pipeline (``pipeline``) and the one
way to serve (``serve``) that put the layers below together. The CLI, the pytest plugin, drift's oracle and
the tests build the fake here and serve it here.
"""
