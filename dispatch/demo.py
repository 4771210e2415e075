from dispatch.policy import policy_current


def seed_demo() -> None:
    policy_current()
