"""Time-based escalation steps, like TaskRouter workflow targets.

The policy lists steps such as "after 60 s relax the skill level by 1", "after 90 s offer to 3 agents
at once", "after 180 s alert supervisors". They are cumulative: stage k applies steps 1..k. A ticket
is in the stage its wait time has reached; when nobody is eligible in that stage, dispatch moves to
the next stage at once instead of waiting (a step is skipped when nobody is eligible for it).
"""

from dataclasses import dataclass

ACTIONS = ("relax_skill_level", "widen_fanout", "alert_supervisors")


@dataclass(frozen=True)
class Stage:
    number: int
    skill_relaxation: int
    fanout: int
    alert_supervisors: bool
    after_seconds: int

    def as_dict(self) -> dict:
        return {
            "number": self.number,
            "skill_relaxation": self.skill_relaxation,
            "fanout": self.fanout,
            "alert_supervisors": self.alert_supervisors,
            "after_seconds": self.after_seconds,
        }


def escalation_stages(policy) -> list[Stage]:
    stages = [Stage(0, 0, policy.offer_fanout, False, 0)]
    for number, step in enumerate(sorted(policy.escalation_steps, key=lambda s: s["after_seconds"]), start=1):
        previous = stages[-1]
        relaxation, fanout, alert = previous.skill_relaxation, previous.fanout, previous.alert_supervisors
        if step["action"] == "relax_skill_level":
            relaxation += int(step.get("value") or 1)
        elif step["action"] == "widen_fanout":
            fanout = max(fanout, int(step.get("value") or 2))
        elif step["action"] == "alert_supervisors":
            alert = True
        stages.append(Stage(number, relaxation, fanout, alert, int(step["after_seconds"])))
    return stages


def stage_reached(stages: list[Stage], *, waited_seconds: float) -> int:
    """Index of the last stage whose `after_seconds` the wait has reached."""
    return max(i for i, stage in enumerate(stages) if stage.after_seconds <= waited_seconds)


def validate_steps(steps) -> list[str]:
    """Problems with a list of steps, in plain words (empty when valid)."""
    problems = []
    if not isinstance(steps, list):
        return ["Escalation steps must be a list."]
    for i, step in enumerate(steps, start=1):
        if not isinstance(step, dict):
            problems.append(f"Step {i} must be an object.")
            continue
        unknown = set(step) - {"after_seconds", "action", "value"}
        if unknown:
            problems.append(f"Step {i} has unknown keys: {', '.join(sorted(unknown))}.")
        after = step.get("after_seconds")
        if not isinstance(after, int) or isinstance(after, bool) or not 1 <= after <= 86400:
            problems.append(f"Step {i}: after_seconds must be a whole number from 1 to 86400.")
        if step.get("action") not in ACTIONS:
            problems.append(f"Step {i}: action must be one of {', '.join(ACTIONS)}.")
        value = step.get("value")
        if step.get("action") == "relax_skill_level" and not (isinstance(value, int) and 1 <= value <= 4):
            problems.append(f"Step {i}: relax_skill_level needs a value from 1 to 4.")
        if step.get("action") == "widen_fanout" and not (isinstance(value, int) and 2 <= value <= 50):
            problems.append(f"Step {i}: widen_fanout needs a value from 2 to 50.")
    return problems
