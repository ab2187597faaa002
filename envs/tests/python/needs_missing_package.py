import rllib_test_package_that_does_not_exist  # noqa: F401


class Env:
    pass
