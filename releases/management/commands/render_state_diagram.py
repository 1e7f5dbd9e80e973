import re
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from releases.models import Release

OUTPUT = Path(settings.BASE_DIR) / "static" / "releases" / "state-diagram.svg"


class Command(BaseCommand):
    help = (
        "Render the release state machine (django-fsm-2's graph of Release.state) to "
        "static/releases/state-diagram.svg, with a data-state attribute on each node so the release "
        "page can highlight the current state. Needs the graphviz package and its `dot` program."
    )
    requires_system_checks = []

    def handle(self, **options):
        try:
            from django_fsm.management.commands.graph_transitions import generate_dot
        except ImportError as error:
            raise CommandError(
                f"Install graphviz (pip) and graphviz (apt) first: {error}"
            ) from None
        field = Release._meta.get_field("state")
        # `cancel` leaves from every state up to `verified`: drawn, it hides the flow. The page
        # says so under the diagram instead.
        dot = generate_dot([(field, Release)], ignore_transitions=["cancel"])
        dot.body = [
            line.replace("shape=doublecircle", "shape=box peripheries=2").replace(
                "shape=circle", "shape=box"
            )
            for line in dot.body
        ]
        dot.graph_attr.update(
            rankdir="LR", fontname="Helvetica", bgcolor="transparent", nodesep="0.35", ranksep="0.5"
        )
        dot.node_attr.update(
            fontname="Helvetica",
            fontsize="11",
            style="rounded,filled",
            fillcolor="#f4f6fb",
            margin="0.15,0.06",
            color="#7b8794",
        )
        dot.edge_attr.update(
            fontname="Helvetica", fontsize="9", color="#7b8794", fontcolor="#52606d"
        )
        svg = dot.pipe(format="svg", engine="dot").decode()
        # <g id="node3" class="node"><title>releases.release.state.testing</title> → data-state="testing"
        svg = re.sub(
            r'<g id="(node\d+)" class="node">\s*<title>releases\.release\.state\.(\w+)</title>',
            r'<g id="\1" class="node" data-state="\2"><title>\2</title>',
            svg,
        )
        svg = re.sub(
            r'<g id="clust\d+" class="cluster">.*?</g>', "", svg, flags=re.S
        )  # the frame and its caption
        svg = svg[svg.index("<svg") :]  # drop the XML prolog and doctype: it is inlined in pages
        OUTPUT.parent.mkdir(parents=True, exist_ok=True)
        OUTPUT.write_text(svg)
        self.stdout.write(f"Wrote {OUTPUT.relative_to(settings.BASE_DIR)} ({len(svg):,} bytes).")
