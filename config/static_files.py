"""whitenoise as this project runs it: quiet about STATIC_ROOT until collectstatic has run."""

import os

from whitenoise.middleware import WhiteNoiseMiddleware


class StaticFilesMiddleware(WhiteNoiseMiddleware):
    """whitenoise, which does not look for STATIC_ROOT while the finders serve the files.

    Before collectstatic (make demo, runserver, the tests) the folder does not exist and
    whitenoise would warn "No directory at: .../staticfiles/" on every start: a warning that
    asks nothing of anyone, since the finders serve the apps' files. Under make serve
    (DJANGO_STATIC_COLLECTED=1, no finders) a missing STATIC_ROOT is a fault and still warns.
    """

    def add_files(self, root, prefix=None):
        before_collectstatic = (
            self.use_finders
            and os.fspath(root) == os.fspath(self.static_root)
            and not os.path.isdir(root)
        )
        if not before_collectstatic:
            super().add_files(root, prefix)
