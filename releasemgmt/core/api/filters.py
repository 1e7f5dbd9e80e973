from rest_framework import filters


class SearchFilter(filters.SearchFilter):
    """DRF's ``?search=``, documented with the fields it searches, and only where it searches
    something: a viewset whose FilterSet has its own ``search`` filter (shared with its list
    page) declares no ``search_fields``, so each list has one search parameter."""

    def get_schema_operation_parameters(self, view):
        fields = [
            field.lstrip("^=@$").replace("__", " ").replace("_", " ")
            for field in getattr(view, "search_fields", None) or ()
        ]
        if not fields:
            return []
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.search_param:
                parameter["description"] = f"Search the {', '.join(fields)} (each word, any case)."
        return parameters
