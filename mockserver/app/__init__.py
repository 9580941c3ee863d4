"""The top of the fake: the one builder (``build``) and the one declared pipeline (``pipeline``) that put
the layers below together. The CLI, the pytest plugin, drift's oracle and the tests build the fake here.
"""
