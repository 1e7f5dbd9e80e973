"""The verification report: every check of a run. Its summary on the release page is built in
``panels``."""

from django.contrib.auth.decorators import permission_required
from django.db.models import Count
from django.http import Http404
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from releasemgmt.core.presentation import paginate
from releases.models import Release, VerificationCheck

CHECKS_PER_PAGE = 100


@require_GET
@permission_required("releases.view_release", raise_exception=True)
def verification_report(request, pk):
    """Every check of a verification run (the latest by default; ``?run=`` an earlier one),
    failed first, with what was expected and found and the error it recorded; earlier runs
    listed. Paged: a release with 10,000 targets has tens of thousands of checks."""
    release = get_object_or_404(Release.objects.select_related("release_unit"), pk=pk)
    runs = list(release.verification_runs.select_related("by")[:50])
    run = runs[0] if runs else None
    wanted = request.GET.get("run", "")
    if wanted:
        run = next((r for r in runs if str(r.pk) == wanted), None)
        if run is None:
            raise Http404("No such verification run of this release.")
    context = {"release": release, "runs": runs, "run": run}
    if run is not None:
        result = request.GET.get("result", "")
        checks = VerificationCheck.objects.filter(run=run).select_related("discrepancy")
        if result == "failed":
            checks = checks.filter(ok=False)
        elif result == "ok":
            checks = checks.filter(ok=True)
        else:
            result = ""
        by_kind = {}
        for kind, ok, n in (
            VerificationCheck.objects.filter(run=run)
            .values_list("kind", "ok")
            .annotate(n=Count("id"))
            .values_list("kind", "ok", "n")
            .order_by()
        ):
            row = by_kind.setdefault(kind, {"kind": kind, "ok": 0, "failed": 0})
            row["ok" if ok else "failed"] += n
        total = {"": run.checks_total, "failed": run.checks_failed}
        pages = paginate(
            request,
            checks.order_by("ok", "kind", "id"),
            per_page=CHECKS_PER_PAGE,
            count=total.get(result),
        )
        context.update(
            {
                **pages,
                "result": result,
                "by_kind": sorted(by_kind.values(), key=lambda r: (-r["failed"], r["kind"])),
            }
        )
    return render(request, "releases/deployment/verification_report.html", context)
