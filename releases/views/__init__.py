"""The release manager's pages, one module per page group. Thin: forms parse,
``releases.services`` decide (the same services as the API), the selectors read. A
``DomainError`` becomes a form error or a visible message with its status (400/403/409), never a
500.

- ``lists``: the release list, the back-out override list, the pipeline board.
- ``release``: a release's page, a transition, a test sign-off, a roll-out task done.
- ``plan``: creating and editing a release, the plan page and its forms.
- ``changes``: change requests.
- ``deployment``: the deployment card's refresh, install now on a target, the emergency install.
- ``verification``: the verification report.
- ``decision``: the back-out decision (approve, request an override, confirm someone else's).
- ``queue``: the back-out queue and the top bar's badge.
- ``freeze_windows``: freeze windows.
- ``common``: what several groups share: the release page drawn with a refusal, the refusal box.
- ``panels``: the release page's panels (deployment card, verification summary, back-out
  decision), also drawn by their own refreshes and pages.

``releases.urls`` imports the modules; nothing is re-exported here.
"""
