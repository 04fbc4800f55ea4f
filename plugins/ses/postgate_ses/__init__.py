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
