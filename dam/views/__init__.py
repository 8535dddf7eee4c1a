"""Read models: responses assembled from several domains (an asset with its campaigns'
performance and its look-alikes), kept above the domains so none of them imports another."""
