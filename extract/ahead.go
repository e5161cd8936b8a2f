package extract

import "context"

// Ahead reads a source's pages one ahead of handing them on: fetch requests,
// reads and decodes the next page on a goroutine of its own while emit hands
// on the one before (de-duplication, normalisation, Arrow batches), so that
// one source keeps two cores busy rather than one, and the vendor's time to
// answer is spent decoding.
//
// fetch fills the page it is given and says whether another follows; it is
// called for one page after another, never for two at once, with a page
// emit has finished with. emit is called with each page fetch filled, in
// order, after emit returned for the one before; a fetch error is returned
// once every page before it was emitted, as a sequential loop would. Only
// two pages are alive at once. When ctx ends or emit fails, fetch is told
// (through its context) and waited for, and no page is emitted after.
func Ahead[P any](ctx context.Context, fetch func(context.Context, *P) (more bool, err error), emit func(*P) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type fetched struct {
		page *P
		more bool
		err  error
	}
	var pages [2]P
	free := make(chan *P, len(pages))
	for i := range pages {
		free <- &pages[i]
	}
	out := make(chan fetched)
	go func() {
		defer close(out)
		for {
			var p *P
			select {
			case p = <-free:
			case <-ctx.Done():
				return
			}
			more, err := fetch(ctx, p)
			select {
			case out <- fetched{p, more, err}:
			case <-ctx.Done():
				return
			}
			if err != nil || !more {
				return
			}
		}
	}()
	// The fetcher has returned once out is closed: drain it before leaving.
	stop := func(err error) error {
		cancel()
		for range out {
		}
		return err
	}
	for f := range out {
		switch {
		case f.err != nil:
			return stop(f.err)
		case ctx.Err() != nil:
			return stop(ctx.Err())
		}
		if err := emit(f.page); err != nil {
			return stop(err)
		}
		if !f.more {
			return stop(nil)
		}
		free <- f.page
	}
	return ctx.Err()
}
