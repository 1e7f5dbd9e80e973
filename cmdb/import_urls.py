app_name = "cmdb-import"
urlpatterns = []
