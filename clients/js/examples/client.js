import { Client } from 'backoffice-client';

const client = new Client({
  baseUrl: process.env.BACKOFFICE_URL,
  apiKey: process.env.BACKOFFICE_API_KEY,
});

export default client;
