"""The API's one pagination: a cursor (stable while rows are added, no page counts over large
tables). Each list subclasses it with its own `ordering` (ending in a unique column) and sizes."""

from __future__ import annotations

from rest_framework.pagination import CursorPagination


class CursorPage(CursorPagination):
    """Newest first by id unless a list says otherwise; `page_size` up to `max_page_size`."""

    ordering = "-id"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.cursor_query_param:
                # The `next`/`previous` links' opaque value (URL-safe base64); another is a 404.
                parameter["schema"]["pattern"] = r"^[A-Za-z0-9_=+/-]*$"
            elif parameter["name"] == self.page_size_query_param:
                parameter["schema"].update(minimum=1, maximum=self.max_page_size)
        return parameters
