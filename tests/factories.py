import uuid

import factory
from django.contrib.auth.models import Group
from django.utils import timezone

from agents.models import Agent, AgentLanguage, AgentSkill, Skill, User
from tickets.models import Assignment, Ticket, TicketSkill

PASSWORD = "pw-for-tests"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def role(self, create, extracted, **kwargs):
        if extracted:
            self.groups.add(Group.objects.get_or_create(name=extracted)[0])
        self.save()


class SkillFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Skill
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"skill{n}")
    name = factory.LazyAttribute(lambda o: o.code.title())


class AgentFactory(factory.django.DjangoModelFactory):
    """An active agent. `languages=["de"]`, `skills={"payments": 3}` set their rows."""

    class Meta:
        model = Agent
        skip_postgeneration_save = True

    user = factory.SubFactory(UserFactory, role="agent")
    display_name = factory.Sequence(lambda n: f"Agent {n}")
    max_concurrent = 1

    @factory.post_generation
    def languages(self, create, extracted, **kwargs):
        for code in extracted if extracted is not None else ["en"]:
            AgentLanguage.objects.create(agent=self, code=code)

    @factory.post_generation
    def skills(self, create, extracted, **kwargs):
        for code, level in (extracted or {}).items():
            AgentSkill.objects.create(agent=self, skill=SkillFactory(code=code), level=level)


def online(agent: Agent, sockets: int = 1) -> Agent:
    """Mark an agent online with open sockets, as presence would after a websocket connect."""
    Agent.objects.filter(pk=agent.pk).update(
        presence=Agent.Presence.ONLINE, open_sockets=sockets, presence_changed_at=timezone.now()
    )
    agent.refresh_from_db()
    return agent


def integration_with_token(name: str | None = None, webhook_url: str = ""):
    from agents.services import integration_create

    name = name or f"bot-{uuid.uuid4().hex[:12]}"
    return integration_create(name=name, webhook_url=webhook_url)


class TicketFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Ticket
        skip_postgeneration_save = True

    integration = factory.LazyFunction(lambda: integration_with_token()[0])
    external_id = factory.Sequence(lambda n: f"chat-{n}")
    customer_ref = factory.Sequence(lambda n: f"c-{n}")
    customer_display_name = "Anna"
    language = "en"
    reason = "customer_request"
    priority = 1
    summary = "Customer needs help"
    queued_at = factory.LazyFunction(timezone.now)

    @factory.post_generation
    def skills(self, create, extracted, **kwargs):
        for code, level in (extracted or {}).items():
            TicketSkill.objects.create(ticket=self, skill=SkillFactory(code=code), min_level=level)

    @factory.post_generation
    def holding(self, create, extracted, **kwargs):
        if self.assigned_agent_id is not None:
            record_holding(self)


def record_holding(ticket: Ticket) -> Assignment | None:
    """The Assignment the services write when an agent gets a ticket, for a ticket a test put into its
    state by hand: open while assigned; ended and released (no wrap-up) once it is closed."""
    ticket.refresh_from_db()
    Assignment.objects.filter(ticket=ticket).delete()
    if ticket.assigned_agent_id is None:
        return None
    started = ticket.assigned_at or ticket.queued_at
    assignment = Assignment(ticket=ticket, agent_id=ticket.assigned_agent_id, started_at=started)
    if ticket.status != "assigned":
        assignment.ended_at = max(started, ticket.resolved_at or ticket.closed_at or started)
        assignment.released_at = max(assignment.ended_at, ticket.closed_at or assignment.ended_at)
        assignment.end_reason = ticket.status
    assignment.save()
    return assignment


def set_policy(**changes):
    """Write a new dispatch policy version with `changes` (tests use short timeouts and simple steps)."""
    from dispatch.models import DispatchPolicy
    from dispatch.policy import policy_current

    current = policy_current()
    fields = {
        f.name: getattr(current, f.name)
        for f in DispatchPolicy._meta.fields
        if f.name not in ("id", "version", "created_at", "created_by")
    }
    fields.update(changes)
    return DispatchPolicy.objects.create(version=current.version + 1, **fields)
