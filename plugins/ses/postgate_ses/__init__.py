"""postgate-ses: SES delivery, the SES event source (SQS pull, SNS HTTPS push) and AWS set-up."""

from postgate import hookimpl

from .settings import SesSettings


@hookimpl
def register_settings(register):
    register("ses", SesSettings)


@hookimpl
def register_deliveries(register):
    from .delivery import SesDelivery

    register("ses", SesDelivery)


@hookimpl
def register_event_sources(register):
    from .source import SesEventSource

    register("ses", SesEventSource)


@hookimpl
async def events_recorded(gateway, events):
    """Transient SES bounces: an address reaching ``transient_bounce_threshold`` goes on ``bounces``."""
    from .mapping import is_transient_bounce, transient_suppressions

    if any(is_transient_bounce(event) for event in events):
        threshold = gateway.plugin_settings("ses").transient_bounce_threshold
        await transient_suppressions(gateway, events, threshold)


@hookimpl
async def domain_checks(gateway, domain):
    """The sending identity, DKIM and MAIL FROM (SPF) of ``domain`` as SES reports them (only
    while SES is a delivery in use, alone or as a route: its client and read pool make the call)."""
    from .delivery import SesDelivery

    ses = next((part for part in gateway.delivery.components() if isinstance(part, SesDelivery)), None)
    if ses is None:
        return None
    return await ses.domain_checker.checks(ses, domain)


@hookimpl
def register_routes(gateway):
    from .sns import sns_blueprint

    if gateway.plugin_settings("ses").sns_endpoint:
        return [sns_blueprint(gateway)]
    return None


@hookimpl
def register_commands(cli):
    from .commands import aws_group, doctor

    cli.add_command(aws_group)
    cli.add_command(doctor)
