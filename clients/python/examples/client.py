import os

from backoffice_client import Client

client = Client(base_url=os.environ["BACKOFFICE_URL"], api_key=os.environ["BACKOFFICE_API_KEY"])
