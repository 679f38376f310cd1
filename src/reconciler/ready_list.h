// The paths whose next call waits for room in the window, in the order they are to be sent.
//
// Intrusive: each PathWork carries its own link. Queueing a path allocates nothing and needs no
// lookup to find the path again when it is sent, and a path erased while queued takes itself out
// of the list as it goes (its link's destructor), so the list never holds a dangling entry.
// Not thread-safe (the reconciler thread).
#pragma once

namespace zkspool {

class PathWork;

class ReadyLink {
 public:
  explicit ReadyLink(PathWork* owner) : owner_(owner) {}
  ReadyLink(const ReadyLink&) = delete;
  ReadyLink& operator=(const ReadyLink&) = delete;
  ~ReadyLink() { Unlink(); }

  bool linked() const { return next_ != nullptr; }
  void Unlink() {
    if (!linked()) return;
    prev_->next_ = next_;
    next_->prev_ = prev_;
    prev_ = next_ = nullptr;
  }

 private:
  friend class ReadyList;
  PathWork* owner_;
  ReadyLink* prev_ = nullptr;
  ReadyLink* next_ = nullptr;
};

class ReadyList {
 public:
  ReadyList() : head_(nullptr) { head_.prev_ = head_.next_ = &head_; }
  ReadyList(const ReadyList&) = delete;
  ReadyList& operator=(const ReadyList&) = delete;
  ~ReadyList() { Clear(); }

  bool empty() const { return head_.next_ == &head_; }
  // A link already in the list stays where it is.
  void PushBack(ReadyLink& link) { InsertBefore(link, head_); }
  void PushFront(ReadyLink& link) { InsertBefore(link, *head_.next_); }
  // The first path, taken out of the list; nullptr when empty.
  PathWork* PopFront() {
    if (empty()) return nullptr;
    ReadyLink& first = *head_.next_;
    first.Unlink();
    return first.owner_;
  }
  void Clear() {
    while (!empty()) head_.next_->Unlink();
  }

 private:
  void InsertBefore(ReadyLink& link, ReadyLink& at) {
    if (link.linked()) return;
    link.prev_ = at.prev_;
    link.next_ = &at;
    at.prev_->next_ = &link;
    at.prev_ = &link;
  }

  ReadyLink head_;  // sentinel: the list is the ring from head_.next_ back to it
};

}  // namespace zkspool
